"""Google Cloud helpers shared by the connectors, config loading and deploy code.

`credentials` (where credentials come from), `secrets_gsm` (``${gsm:...}`` config
references) and `storage` (the GCS client). Every SDK import is lazy, so importing
this package needs no Google Cloud library.
"""
