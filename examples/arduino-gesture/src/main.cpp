/* Gesture classifier: accelerometer samples in, the recognised gesture out.
 *
 * loop() reads one 3-axis accelerometer sample per call, at 50 Hz.  Every 50
 * samples (one second) the window goes through the gesture model -- compiled
 * from ../models/gesture.h5 by ml4f while the firmware builds, see
 * custom_ml4f_models in platformio.ini -- and the gesture is printed with the
 * model's probabilities.
 *
 * The samples come from a recording (motion_samples.h).  On a board with an
 * IMU, make read_accel() return the sensor's reading in g (e.g. the LSM9DS1 of
 * the Nano 33 BLE through the Arduino_LSM9DS1 library).
 *
 * Every environment of platformio.ini builds this file unchanged: the Arduino
 * boards with their core, the QEMU environment with console.h standing in for
 * Serial and a main() that replays the recording once.
 */
#ifdef ARDUINO
#include <Arduino.h>
#ifdef USE_TINYUSB
#include <Adafruit_TinyUSB.h>  // Serial of the Adafruit nRF52 core is TinyUSB's; PlatformIO finds the
#endif                         // library only through an include in the sketch
#else
#include "console.h"
#endif

#include "gesture.h"
#include "motion_samples.h"

static_assert(GESTURE_INPUT_ELEMS == 50 * 3, "the model takes 50 samples of 3 axes");
static_assert(GESTURE_OUTPUT_ELEMS == sizeof gesture_labels / sizeof gesture_labels[0],
              "one probability per gesture label");

static gesture_arena_t arena;              // GESTURE_ARENA_BYTES of scratch RAM
static float window[GESTURE_INPUT_ELEMS];  // samples x (x, y, z), oldest first
static unsigned filled;                    // samples in the window so far
static unsigned next_sample;               // position in the recording
static unsigned windows_done;

static void read_accel(float xyz[3])
{
    const float *sample = motion_samples[next_sample];
    next_sample = (next_sample + 1) % MOTION_SAMPLES;
    xyz[0] = sample[0];
    xyz[1] = sample[1];
    xyz[2] = sample[2];
}

static void print_prediction(const float probabilities[GESTURE_OUTPUT_ELEMS])
{
    int gesture = gesture_argmax(probabilities, GESTURE_OUTPUT_ELEMS);
    Serial.print("window ");
    Serial.print(++windows_done);
    Serial.print(": ");
    Serial.print(gesture_labels[gesture]);
    Serial.print(" [");
    for (unsigned i = 0; i < GESTURE_OUTPUT_ELEMS; i++) {
        Serial.print(i ? ", " : "");
        Serial.print(gesture_labels[i]);
        Serial.print(" ");
        Serial.print(probabilities[i], 6);
    }
    Serial.println("]");
}

void setup()
{
    Serial.begin(115200);
    Serial.println("gesture classifier (ml4f): rest, shake, circle, tap");
}

void loop()
{
    read_accel(&window[3 * filled]);
    if (++filled == GESTURE_INPUT_ELEMS / 3) {
        float probabilities[GESTURE_OUTPUT_ELEMS];
        gesture_predict(window, probabilities, &arena);
        print_prediction(probabilities);
        filled = 0;
    }
    delay(1000 / MOTION_RATE_HZ);
}

#ifndef ARDUINO
int main(void)
{
    setup();
    for (unsigned i = 0; i < MOTION_SAMPLES; i++)
        loop();
    return 0;
}
#endif
