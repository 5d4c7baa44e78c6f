{#
    conversations.message_id is `wamid.<id>.<epoch>` (epoch in seconds or
    milliseconds): without its trailing `.<digits>` it is whatsapp_messages.wamid.
#}
{% macro wamid_of_message_id(column) -%}
    {%- if not column -%}
        {{ exceptions.raise_compiler_error("wamid_of_message_id needs a column") }}
    {%- endif -%}
    regexp_replace({{ column }}, '\.\d+$', '')
{%- endmacro %}
