"""The anchor of the HTTP benchmarks: a bare Django project as `django-admin startproject`
makes it (its apps and middleware, DEBUG off) with one view answering JSON. The benches serve
it under the same gunicorn settings as Keyturn, in the same run, and report Keyturn's figures
as ratios to it."""
