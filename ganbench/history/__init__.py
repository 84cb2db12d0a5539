"""Every figure's history across commits and machines: a database of recorded runs
(``store``), series of one figure for one configuration on one machine (``series``),
change points in them (``changes``) and a static dashboard (``publish``)."""
