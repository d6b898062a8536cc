"""The live dashboard at ``/_fakeai/ui``: a page, its script and stylesheet (``static/``, all inside the package,
nothing loaded from elsewhere) and the live feed of journal entries (:mod:`fakeai.ui.feed`). The admin handlers
in :mod:`fakeai.admin` serve them; docs/dashboard.md describes the page."""
