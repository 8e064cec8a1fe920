# Turns a Lua script (IN) into a C string sp_lua_<NAME> (OUT) so the binary carries it.
file(READ ${IN} content)
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n\"" content "${content}")
file(WRITE ${OUT} "/* generated from ${IN} */\nconst char sp_lua_${NAME}[] = \"${content}\";\n")
