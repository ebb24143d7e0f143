"""Engines that run the network over data: evaluation (:mod:`lgfn.engine.evaluator`) and training.

Submodules are imported directly (``from lgfn.engine.evaluator import evaluate``); this package file
imports nothing so that importing one engine never pulls in the others.
"""
