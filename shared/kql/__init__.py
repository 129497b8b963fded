"""KQL text handling that must not depend on a query engine.

Log Analytics' query API has no parameter channel, so values travel inside the
query text as ``declare query_parameters`` defaults. The modules here parse that
block (:mod:`.declare`), check values against declared types (:mod:`.types`),
render them as literals that cannot escape their quotes (:mod:`.literals`,
:mod:`.render`) and encode result cells the way the REST API does
(:mod:`.wire`). Nothing is imported here, so importing the package is free.
"""
