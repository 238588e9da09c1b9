"""deploygen: turn a trained model file into a project that deploys it on AWS."""

__version__ = "0.1.0"
