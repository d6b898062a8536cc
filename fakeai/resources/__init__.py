"""The declarative resource model: state for every resource in the spec (see :mod:`fakeai.resources.graph`,
:mod:`fakeai.resources.declare`, :mod:`fakeai.resources.model`; the producer in :mod:`fakeai.resources.producer`)."""
