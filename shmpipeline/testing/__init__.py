"""shmpipeline.testing: the test-and-simulation harness."""
