{% include 'container/test_server.py' -%}
