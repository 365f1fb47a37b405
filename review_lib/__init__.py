"""Out-of-area placement review suite: one module per stage of the review's data flow.

frame -> sampling -> workbooks -> validation -> findings -> charts -> report, driven by ``cli``.
"""

__version__ = "0.1.0"
