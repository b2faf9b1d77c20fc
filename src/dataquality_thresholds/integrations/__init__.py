"""Integrations with evaluation harnesses.

:mod:`dataquality_thresholds.integrations.inspect` embeds the library in
inspect_ai (``pip install 'dataquality_thresholds[inspect]'``). Importing this
package imports no harness; see ``docs/embedding.md`` for other harnesses.
"""

__all__: list[str] = []
