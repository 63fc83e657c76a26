"""demosaic: batch video de-mosaic with a mosaic-guided Partial-Convolution U-Net."""
from setuptools import find_packages, setup

setup(
    name="demosaic",
    version="0.1.0",
    description="Find pixelation mosaics in video and restore what lies under them (P-Conv U-Net).",
    python_requires=">=3.11",
    packages=find_packages(include=["demosaic", "demosaic.*", "pipelines", "pipelines.*"]),
    py_modules=["cli", "cli_train"],
    # Versions tested on Debian 12, Python 3.11, 2 CPU cores. TensorFlow comes from an
    # extra so a GPU node can take the CUDA build: `.[cpu]` (the default in scripts/setup.sh)
    # or `.[gpu]`; both provide the same `tensorflow` module.
    install_requires=[
        "keras==3.15.1",
        "opencv-python-headless==5.0.0.93",
        "ffmpeg-python==0.2.0",
        "click==8.5.1",
        "numpy==2.4.6",
        "ray[default]==2.60.0",
        "matplotlib==3.11.2",
        "tensorboard==2.21.0",  # tensorflow-cpu does not bring it; training logs need it
        # TensorFlow's own (>=0.5.1,<1.0), held at 0.6.0: 0.7.0's extension takes 0.7-0.9 s to
        # initialise on import (0.6.0: 5 ms), a fifth of every command's start-up (BENCHMARKS.md).
        "ml_dtypes==0.6.0",
    ],
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        "train": ["scikit-image==0.26.0"],
        "test": ["pytest==9.2.0", "scikit-image==0.26.0", "scipy>=1.11"],
    },
    entry_points={"console_scripts": ["demosaic=cli:main"]},
)
