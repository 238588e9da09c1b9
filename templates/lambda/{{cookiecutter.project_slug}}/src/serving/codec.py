{% include 'serving/codec.py' -%}
