"""Private implementation of :class:`~dataquality_thresholds.testing.FakeOpenAIServer`."""
