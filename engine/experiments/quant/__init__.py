"""`llmbench quant-matrix`: one base model in every precision and method (matrix.py), the GGUF ladder and its KLD pass (fidelity.py), and its reports (report.py)."""
