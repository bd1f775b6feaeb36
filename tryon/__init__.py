"""tryon: virtual try-on with a conditional GAN.

The library knows nothing of HTTP, SQL or Celery; the service in ``api/`` imports it.
Importing this package has no side effects: nothing is read from the environment and no model is loaded.
"""

__version__ = "0.1.0"
