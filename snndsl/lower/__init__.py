"""IR -> Plan: blocks, update order, one-step delays (plan.py).  The plan is computed once per
compile and passed along to the checks, the summary and the code generator; memory.py estimates a
job's peak memory from it."""

from .memory import MemoryEstimate, available_memory, estimate
from .plan import Block, Endpoint, Member, Output, Plan, Projection, lower

__all__ = ["Block", "Endpoint", "Member", "MemoryEstimate", "Output", "Plan", "Projection", "available_memory",
           "estimate", "lower"]
