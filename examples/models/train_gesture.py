"""Train the accelerometer gesture classifier shipped as examples/models/gesture.h5 / gesture.keras.

Data: synthetic 3-axis accelerometer windows (50 samples at 50 Hz, in g) of four
gestures a wrist-worn sensor sees:

    0 rest    gravity only, slight tremor
    1 shake   fast back-and-forth along one horizontal axis
    2 circle  the hand draws a circle (two horizontal axes in quadrature)
    3 tap     a short sharp spike on the vertical axis at a random time

Orientation, amplitude, frequency, phase and sensor noise vary per window, so the
network cannot memorise one waveform.  Everything is seeded: a rerun gives the same files.

Run:  python examples/models/train_gesture.py   (needs tensorflow-cpu)
Writes gesture.h5, gesture.keras, gesture_test_x.npy, gesture_test_y.npy next to
this script and the recorded motion replayed by the Arduino example
(examples/arduino-gesture/src/motion_samples.h).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES_HEADER = os.path.join(HERE, "..", "arduino-gesture", "src", "motion_samples.h")
LABELS = ("rest", "shake", "circle", "tap")
WINDOW = 50          # samples per window
RATE_HZ = 50.0
AXES = 3


def _rotation(rng, max_tilt):
    """A random small tilt: the sensor is never worn perfectly level."""
    ax, ay = rng.uniform(-max_tilt, max_tilt, 2)
    cx, sx, cy, sy = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return rx @ ry


def gesture_window(label: int, rng) -> np.ndarray:
    t = np.arange(WINDOW) / RATE_HZ
    motion = np.zeros((WINDOW, AXES))
    if label == 0:
        motion += 0.02 * np.sin(2 * np.pi * rng.uniform(6, 10) * t + rng.uniform(0, 2 * np.pi))[:, None]
    elif label == 1:
        axis = rng.integers(0, 2)
        f, a = rng.uniform(4, 7), rng.uniform(0.8, 1.6)
        motion[:, axis] = a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    elif label == 2:
        f, a = rng.uniform(0.8, 1.6), rng.uniform(0.3, 0.7)
        phase = rng.uniform(0, 2 * np.pi)
        direction = rng.choice([-1.0, 1.0])
        motion[:, 0] = a * np.cos(2 * np.pi * f * t + phase)
        motion[:, 1] = direction * a * np.sin(2 * np.pi * f * t + phase)
    else:
        at = rng.integers(5, WINDOW - 8)
        width = rng.uniform(1.0, 2.0)
        pulse = rng.uniform(1.5, 3.0) * np.exp(-0.5 * ((np.arange(WINDOW) - at) / width) ** 2)
        motion[:, 2] = pulse - 0.4 * np.roll(pulse, 3)      # rebound after the tap
    gravity = np.array([0.0, 0.0, 1.0])
    x = (motion + gravity) @ _rotation(rng, 0.35).T
    x += rng.normal(0.0, 0.03, x.shape)                   # sensor noise
    return x.astype(np.float32)


def dataset(n_per_class: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(LABELS)), n_per_class)
    rng.shuffle(y)
    x = np.stack([gesture_window(int(label), rng) for label in y])
    return x, y.astype(np.int32)


def build_model(keras):
    return keras.Sequential([
        keras.Input((WINDOW, AXES), name="accel"),
        keras.layers.Conv1D(8, 5, strides=2, activation="relu", name="conv1"),
        keras.layers.MaxPooling1D(2, name="pool1"),
        keras.layers.Conv1D(16, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling1D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.2, name="dropout"),
        keras.layers.Dense(16, activation="relu", name="fc"),
        keras.layers.Dense(len(LABELS), activation="softmax", name="gesture"),
    ], name="gesture")


def c_float(value) -> str:
    """A float literal that reads back as exactly this float32."""
    text = f"{float(value):.9g}"
    return text + ("f" if any(c in text for c in ".en") else ".0f")


def write_samples_header(path: str, x: np.ndarray, y: np.ndarray) -> None:
    """The recorded sensor stream the example replays: windows back to back, float32-exact."""
    rows = []
    for w, label in zip(x, y):
        rows.append(f"    /* window of a '{LABELS[label]}' */")
        rows.extend("    { " + ", ".join(c_float(v) for v in sample) + " }," for sample in w)
    labels = ", ".join(f'"{name}"' for name in LABELS)
    expected = ", ".join(str(int(label)) for label in y)
    text = f"""\
/* motion_samples.h - recorded 3-axis accelerometer stream (g) replayed by the sketch.
 * Written by examples/models/train_gesture.py from its held-out test windows
 * (gesture_test_x.npy); the expected gestures are {', '.join(LABELS[i] for i in y)}. */
#ifndef MOTION_SAMPLES_H
#define MOTION_SAMPLES_H

#define MOTION_RATE_HZ {int(RATE_HZ)}
#define MOTION_WINDOWS {len(x)}
#define MOTION_SAMPLES ({len(x)} * {WINDOW})

static const char *const gesture_labels[{len(LABELS)}] = {{ {labels} }};

/* the gesture recorded in each window */
static const unsigned char motion_gestures[MOTION_WINDOWS] = {{ {expected} }};

static const float motion_samples[MOTION_SAMPLES][{AXES}] = {{
{chr(10).join(rows)}
}};

#endif /* MOTION_SAMPLES_H */
"""
    with open(path, "w") as fh:
        fh.write(text)


def main(out_dir=HERE, samples_header=SAMPLES_HEADER):
    import keras

    keras.utils.set_random_seed(11)
    x_train, y_train = dataset(300, seed=1)
    x_test, y_test = dataset(50, seed=2)
    model = build_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=25, batch_size=32, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"gesture Conv1D: test accuracy {acc:.3f} on {len(x_test)} held-out windows, "
          f"{model.count_params()} parameters")
    model.save(os.path.join(out_dir, "gesture.h5"))
    model.save(os.path.join(out_dir, "gesture.keras"))
    # two windows of each gesture, in a fixed order, for the examples and the tests
    pick = np.concatenate([np.flatnonzero(y_test == c)[:2] for c in range(len(LABELS))])
    pick = pick[np.argsort(pick, kind="stable")]
    np.save(os.path.join(out_dir, "gesture_test_x.npy"), x_test[pick])
    np.save(os.path.join(out_dir, "gesture_test_y.npy"), y_test[pick])
    if samples_header:
        write_samples_header(samples_header, x_test[pick], y_test[pick])
    return acc


if __name__ == "__main__":
    sys.exit(0 if main() > 0.9 else 1)
