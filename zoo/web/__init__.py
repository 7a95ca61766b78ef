"""zoo in a browser: the leaderboard and report pages (``leaderboard``, ``webpage``), notebooks' HTML
(``notebook``), and the playground (``serve``, ``site_files``, ``curve_points``, the page in ``playground/``)."""
