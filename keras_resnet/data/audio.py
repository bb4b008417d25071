"""Speech features with TensorFlow's signal ops, for the WRBN acoustic models (``keras_resnet.speech``).

Use as a tf.data map: ``dataset.map(lambda wave, labels: (log_mel_spectrogram(wave), labels))``.
"""

import tensorflow as tf


def log_mel_spectrogram(waveform, sample_rate=16_000, frame_length=400, frame_step=160, fft_length=512,
                        num_mel_bins=80, lower_hz=20.0, upper_hz=None, floor=1e-6):
    """Log-mel filterbank features of ``waveform`` (float, ``(samples,)`` or ``(batch, samples)``).

    Defaults: 25 ms windows every 10 ms at 16 kHz, 512-point FFT, 80 mel bands. Shapes: ``(..., samples) ->
    (..., frames, num_mel_bins)`` with ``frames = 1 + (samples - frame_length) // frame_step``.
    """
    stft = tf.signal.stft(tf.cast(waveform, tf.float32), frame_length, frame_step, fft_length,
                          window_fn=tf.signal.hann_window)
    power = tf.math.square(tf.abs(stft))
    mel = tf.signal.linear_to_mel_weight_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate, lower_hz,
                                                upper_hz or sample_rate / 2)
    return tf.math.log(tf.tensordot(power, mel, 1) + floor)


def stft_magnitudes(waveform, frame_length=400, frame_step=160, fft_length=512):
    """Log STFT magnitudes, ``(..., frames, fft_length // 2 + 1)`` (257 bins for the default 512-point FFT)."""
    stft = tf.signal.stft(tf.cast(waveform, tf.float32), frame_length, frame_step, fft_length)
    return tf.math.log(tf.abs(stft) + 1e-6)
