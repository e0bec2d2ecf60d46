"""Many endpoints: the scheduler, the connect sweep and its timer, retries, host slots, workers, sinks."""
