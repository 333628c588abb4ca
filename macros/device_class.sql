{#-
    Device class from a user agent: tablet, mobile, desktop or unknown.
    iPads and Android devices without "Mobile" are tablets (Android phones
    always send "Mobile"); any other "Mobi", iPhone or Android is mobile.
-#}
{% macro device_class(user_agent) -%}
    case
        when {{ user_agent }} is null then 'unknown'
        when lower({{ user_agent }}) like '%ipad%' or lower({{ user_agent }}) like '%tablet%' then 'tablet'
        when lower({{ user_agent }}) like '%android%' and lower({{ user_agent }}) not like '%mobi%' then 'tablet'
        when lower({{ user_agent }}) like '%mobi%' or lower({{ user_agent }}) like '%iphone%'
            or lower({{ user_agent }}) like '%android%' then 'mobile'
        else 'desktop'
    end
{%- endmacro %}
