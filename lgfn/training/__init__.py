"""Training LGFN: one module per concern.

- :mod:`~lgfn.training.trainer`: the loop (:class:`~lgfn.training.trainer.Trainer`): steps, logging,
  validation, checkpoints, stopping;
- :mod:`~lgfn.training.optimisation`: the network, Adam, the schedule and one optimisation step;
- :mod:`~lgfn.training.schedule`: the checks of the schedule's milestones;
- :mod:`~lgfn.training.losses`: the training loss;
- :mod:`~lgfn.training.offsets`: the alignment's offset statistics and the offset layers' learning rate;
- :mod:`~lgfn.training.datasets`: the training and validation data and the loader;
- :mod:`~lgfn.training.process`: the process's device, global batch and learning rate;
- :mod:`~lgfn.training.distributed`: the batch sharding (the process group is :mod:`lgfn.distributed`);
- :mod:`~lgfn.training.run_record`: the run folder (log, config, metrics, TensorBoard, checkpoints);
- :mod:`~lgfn.training.resume`: RNG states and the checks a resume makes;
- :mod:`~lgfn.training.signals`: Ctrl-C and SIGTERM;
- :mod:`~lgfn.training.validation`: scoring the weights during training;

Submodules are imported directly; this file imports nothing, so that :mod:`lgfn.config` can import
the constants it shares with them (:data:`~lgfn.training.datasets.TRAIN_DATA_TYPES`,
:data:`~lgfn.training.losses.LOSSES`) without a cycle.
"""
