{% include 'project/inference.py' -%}
