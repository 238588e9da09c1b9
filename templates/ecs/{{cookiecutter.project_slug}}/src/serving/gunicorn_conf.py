{% include 'serving/gunicorn_conf.py' -%}
