"""Dataset registrations: one module per dataset family.

Every module in this package is imported by the catalog on first use and calls
:func:`precisionmed.data.catalog.register_dataset`. Keep imports of heavy libraries inside the
loader functions so that ``precisionmed data list`` stays fast.
"""
