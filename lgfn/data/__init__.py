"""Data pipeline: MATLAB-compatible resizing, degradations, datasets and temporal windows.

Submodules are imported directly (``from lgfn.data.resize import imresize``); this package file
imports nothing so that importing one piece never pulls in the others.
"""
