{% include 'serving/__main__.py' -%}
