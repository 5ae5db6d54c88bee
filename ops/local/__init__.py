"""`monitoring run` (`make run`): the whole pipeline on one machine."""
