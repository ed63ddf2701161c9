"""Train the 8x8 digits CNN shipped as examples/models/digits.h5 / digits.keras.

Data: the 1,797 8x8 handwritten digits bundled with scikit-learn (no download).
Run:  python examples/models/train_digits.py   (needs tensorflow-cpu, scikit-learn)
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402


def main(out_dir=os.path.dirname(os.path.abspath(__file__))):
    import keras
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(7)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]     # 8x8x1 in [0, 1]
    y = digits.target
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(x))
    x, y = x[idx], y[idx]
    n_test = 360
    x_train, y_train, x_test, y_test = x[n_test:], y[n_test:], x[:n_test], y[:n_test]

    model = keras.Sequential([
        keras.Input((8, 8, 1), name="pixels"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.2, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="digit"),
    ], name="digits")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=64, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"digits CNN: test accuracy {acc:.3f} on {n_test} held-out images")
    model.save(os.path.join(out_dir, "digits.h5"))
    model.save(os.path.join(out_dir, "digits.keras"))
    np.save(os.path.join(out_dir, "digits_test_x.npy"), x_test[:32])
    np.save(os.path.join(out_dir, "digits_test_y.npy"), y_test[:32].astype(np.int32))
    return acc


if __name__ == "__main__":
    sys.exit(0 if main() > 0.9 else 1)
