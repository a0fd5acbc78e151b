"""Agents: one module per agent, each a processor that turns one input record into output records."""
