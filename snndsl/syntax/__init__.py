"""Text -> AST: the Lark grammar (grammars/snn.lark), the parser (parser.py) into the AST
(ast.py), and the loader (loader.py) that reads files and resolves imports."""
