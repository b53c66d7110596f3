"""AST -> IR.  spec.py elaborates a loaded program part by part: task, time, models (models.py,
visible_models.py), populations and learnables, groups, inputs and outputs, projections and
gains, train settings, with the `--set` overrides (overrides.py) applied without touching the
AST.  scope.py, expr.py and units.py fold constants with units; bodies.py reads declaration
bodies; context.py holds what the parts share."""
