"""IR -> Plan: blocks, update order, one-step delays (plan.py).  The plan is computed once per
compile and passed along to the checks, the summary and the code generator."""

from .plan import Block, Endpoint, Member, Output, Plan, Projection, lower

__all__ = ["Block", "Endpoint", "Member", "Output", "Plan", "Projection", "lower"]
