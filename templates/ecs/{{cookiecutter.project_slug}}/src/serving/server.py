{% include 'serving/server.py' -%}
