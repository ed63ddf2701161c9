"""Support for the build-integration tests (SCons, PlatformIO, C runtime): paths,
subprocess helpers, Keras predictions and the parsing of firmware output."""
