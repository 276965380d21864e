"""Framework adapters, installed as ``jfml_tracking.integrations``.

- :mod:`jfml_tracking.integrations.lightning`: ``JFrogMLLogger`` and ``JFrogMLCallback`` for
  PyTorch Lightning (``pip install 'jfml-tracking[lightning]'``).
- :mod:`jfml_tracking.integrations.sklearn`: ``JFrogMLCallback`` for scikit-learn's callback API
  and the ``fit_tracked`` fallback (``pip install 'jfml-tracking[sklearn]'``).

Nothing is imported here, so that importing one adapter never imports the other framework.
"""
