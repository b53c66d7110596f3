"""Every diagnostic code, with a one-line title.  tests/test_codes.py checks that each code has a
valid/invalid fixture pair (tests/fixtures/{valid,invalid}/<CODE>.snn) where a spec can trigger it."""

CODES = {
    # reading and parsing
    "E001": "syntax error",
    "E002": "not a UTF-8 text file named .snn",
    "E003": "spec file missing, unreadable, not a regular file or too large",
    "E004": "expression nested too deeply",
    # imports
    "E101": "imported module not found",
    "E102": "import cycle",
    "E103": "imported name not defined in the module",
    "E104": "network statement inside an imported module",
    "E105": "imported module outside the spec's folder, the standard library and --import-path",
    # names
    "E201": "undefined name",
    "E202": "duplicate definition",
    "E203": "unknown setting or key",
    "E204": "unknown parameter, state or variable of a model",
    "E205": "a name or statement of the wrong kind here",
    "E206": "something required is missing",
    # units and types
    "E301": "unit mismatch",
    "E302": "ODE right side has the wrong units",
    "E303": "a time setting without time units",
    "E304": "unknown unit",
    "E305": "unknown function or wrong arguments",
    # values
    "E401": "value out of range",
    "E402": "time constant or dt not positive",
    "E403": "size or count not a positive whole number",
    "E404": "value of the wrong type",
    # sizes and structure
    "E501": "sizes do not match",
    "E502": "projection between the wrong kinds of node",
    "E503": "bad group",
    # learning rules
    "E601": "learning rule does not suit the task",
    "E602": "EC without a learnable Bernoulli projection",
    "E603": "rule cannot learn what is marked learnable",
    "E604": "STOP needs a soft reset",
    "E605": "STOP needs leaks shared per population",
    "E606": "STOP needs linear dynamics without refractoriness",
    # running (reported by `snndsl run`, the emitted train.py and `snndsl eval`)
    "E701": "unknown Brax environment",
    "E702": "unknown or unavailable Brax backend",
    "E703": "environment sizes differ from the network's",
    "E811": "dataset folder or file missing",
    "E812": "dataset file has a wrong magic number or format",
    "E813": "dataset file truncated",
    "E814": "dataset images and labels disagree",
    "E821": "no checkpoint to resume from",
    "E822": "checkpoint corrupt or from another network",
    "E823": "run folder already holds a run",
    "E831": "NaN or inf during training",
    "E841": "output file or folder cannot be written",
    "E851": "the job does not fit in this machine's memory",
    "E852": "a simulation's recording does not fit in memory",
    # NIR interchange (`snndsl export`, `snndsl import`; docs/nir.md)
    "E861": "model or readout without a NIR primitive",
    "E862": "NIR graph or node that snndsl cannot import",
    "E863": "the spec of a run to export is missing or changed",
    # evaluation options (`snndsl run/eval --sample K`, `snndsl eval --episodes N`)
    "E871": "--sample outside the test set, or --episodes below 1",
    # warnings
    "W101": "population receives no projection",
    "W401": "learnable parameter starts outside its bounds",
    "W402": "refractory period not a whole number of time steps (rounded)",
    "W601": "STOP treats recurrent spikes as inputs",
    "W861": "soft reset exported to NIR, which resets to v_reset (kept in metadata)",
    "W862": "part of the network NIR cannot express: approximated or kept in metadata",
}
