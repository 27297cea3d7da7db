"""Streaming runtime: sources → batched, pipelined inference → sinks. Never imports torch unless asked."""
