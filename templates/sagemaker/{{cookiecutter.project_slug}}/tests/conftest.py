{% include 'container/conftest.py' -%}
