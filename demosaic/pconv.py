"""The partial convolution layer (Liu et al. 2018, eq. 1 and 2), written with keras.ops.

    x' = W^T (X ⊙ M) · sum(1) / sum(M) + b    where sum(M) > 0
    x' = 0                                     otherwise (bias included)
    m' = 1 where sum(M) > 0, else 0

sum(1) and sum(M) run over the whole window: kernel height × width × *all* input
channels. 'same' padding counts as hole, so sum(1) is always kh·kw·C_in while sum(M)
only counts in-frame valid entries (NVIDIA's reference implementation does the same).

The mask may have C_in channels (one per feature channel, as after concatenating
skip connections) or one channel shared by all features. Since every output channel of
the paper's mask update is identical, the new mask is returned with one channel.
The layer keeps no state between calls.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="demosaic")
class PConv2D(keras.layers.Layer):
    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, use_bias: bool = True,
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        x_shape, m_shape = input_shape
        channels, mask_channels = int(x_shape[-1]), int(m_shape[-1])
        if mask_channels not in (1, channels):
            raise ValueError(f"mask has {mask_channels} channels; expected 1 or {channels}")
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, channels, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, inputs):
        x, mask = inputs  # (B, H, W, C), (B, H, W, 1 or C)
        channels, mask_channels = x.shape[-1], mask.shape[-1]
        k = self.kernel_size
        y = ops.conv(x * mask, self.kernel, strides=self.strides, padding="same")  # (B, H', W', F)
        # sum(M) over the window and all C_in channels; a 1-channel mask stands for C_in equal ones.
        ones = ops.ones((k, k, 1, 1), dtype=mask.dtype)
        window = ops.conv(ops.sum(mask, axis=-1, keepdims=True), ones,
                          strides=self.strides, padding="same")  # (B, H', W', 1)
        sum_m = window * (channels / mask_channels)
        has_valid = ops.cast(sum_m > 0.5, y.dtype)  # sums of 0/1 are exact; 0.5 guards rounding
        scale = (k * k * channels) / ops.maximum(sum_m, 1.0)
        y = y * scale
        if self.bias is not None:
            y = y + self.bias
        return y * has_valid, has_valid

    def compute_output_shape(self, input_shape):
        x_shape, _ = input_shape
        def out(n):
            return None if n is None else -(-n // self.strides)
        b, h, w = x_shape[0], out(x_shape[1]), out(x_shape[2])
        return (b, h, w, self.filters), (b, h, w, 1)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
