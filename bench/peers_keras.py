"""Keras (TensorFlow, CPU) peer for scripts/bench --peers.

Trains Backprop's seed-cnn and mnist-cnn with a custom training loop — one `tf.function`
step: forward, loss from the logits, gradients, Adam — on a fixed in-memory dataset of
random 28x28x1 images (channels last, as Backprop and Keras store them). Same timing as
bench/peers_torch.py: the best of 2 epochs after a short warm-up. Prints one line per run:

    keras <model> <batch> <threads> <samples_per_second> <peak_rss_kb>

With --folder DIR the same step trains from a folder of image files, one subfolder per class, read
as Keras's documentation shows: `image_dataset_from_directory` (grayscale, 28x28, bilinear),
scaled to [0, 1], then `.cache().prefetch(AUTOTUNE)`, so the first epoch decodes every file and
later epochs read the decoded images from memory. The first epoch's seconds count from the call
that lists the files:

    folder <model> <batch> <threads> <samples> <first_epoch_seconds> <best_later_epoch_seconds>

`--threads` sets TensorFlow's intra-op threads (inter-op 1); both are fixed before
TensorFlow starts, so each thread count is its own process. The step is not XLA-compiled:
`jit_compile=True` trained these models about 3x slower on this CPU.
"""
import argparse
import os
import resource
import sys
import time


def make_model(keras, name):
    """The model and its loss from the logits."""
    outputs = {"seed-cnn": 1, "mnist-cnn": 10}[name]
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(outputs),
    ])
    if outputs == 1:
        return model, keras.losses.BinaryCrossentropy(from_logits=True)
    return model, keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_train_step(tf, model, loss_fn, opt):
    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return train_step


def run_folder(args, tf, keras):
    name, batch = args.models[0], args.batches[0]
    keras.utils.set_random_seed(1)
    model, loss_fn = make_model(keras, name)
    train_step = make_train_step(tf, model, loss_fn, keras.optimizers.Adam(0.001))
    started = time.perf_counter()
    data = keras.utils.image_dataset_from_directory(
        args.folder, color_mode="grayscale", image_size=(28, 28), interpolation="bilinear",
        batch_size=batch, shuffle=True, seed=1, verbose=False)
    samples = len(data.file_paths)
    data = data.map(lambda x, y: (x / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE).cache().prefetch(tf.data.AUTOTUNE)
    seconds = []
    for _ in range(args.epochs):
        for x, y in data:
            loss = train_step(x, tf.cast(y, tf.float32)[:, None] if name == "seed-cnn" else y)
        loss.numpy()
        now = time.perf_counter()
        seconds.append(now - started)
        started = now
    print(f"folder {name} {batch} {args.threads} {samples} {seconds[0]:.3f} {min(seconds[1:]):.3f}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["seed-cnn", "mnist-cnn"])
    p.add_argument("--batches", nargs="+", type=int, default=[32, 128])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--folder", help="train from this folder of images (one subfolder per class) through image_dataset_from_directory")
    p.add_argument("--epochs", type=int, default=3, help="--folder: epochs, the first timed apart from the best of the rest")
    args = p.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.folder:
        run_folder(args, tf, keras)
        return

    for name in args.models:
        g = tf.random.Generator.from_seed(0)
        x = g.uniform((args.samples, 28, 28, 1), dtype=tf.float32)
        if name == "seed-cnn":
            y = tf.cast(g.uniform((args.samples, 1), maxval=2, dtype=tf.int32), tf.float32)
        else:
            y = g.uniform((args.samples,), maxval=10, dtype=tf.int32)
        for batch in args.batches:
            keras.utils.set_random_seed(1)
            model, loss_fn = make_model(keras, name)
            train_step = make_train_step(tf, model, loss_fn, keras.optimizers.Adam(0.001))

            starts = list(range(0, args.samples, batch))
            for i in range(args.warmup):
                s = starts[i % len(starts)]
                train_step(x[s:s + batch], y[s:s + batch])
            s = starts[-1]
            train_step(x[s:s + batch], y[s:s + batch]).numpy()  # the short last batch traces once, here
            best = 0.0
            for _ in range(2):
                t0 = time.perf_counter()
                for s in starts:
                    loss = train_step(x[s:s + batch], y[s:s + batch])
                loss.numpy()
                best = max(best, args.samples / (time.perf_counter() - t0))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(f"keras {name} {batch} {args.threads} {best:.0f} {rss}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
