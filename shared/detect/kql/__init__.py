"""KQL text handling that must not depend on a query engine.

Log Analytics' query API has no parameter channel, so values travel inside the
query text, bound as ``let`` statements where the rule's ``declare query_parameters``
statement stood. The modules here parse that statement (:mod:`.declare`), check
values against declared types (:mod:`.types`), render them as literals that cannot
escape their quotes (:mod:`.literals`), bind them (:mod:`.render`) and encode result
cells the way the REST API does (:mod:`.wire`). Nothing is imported here, so importing the package is free.
"""
