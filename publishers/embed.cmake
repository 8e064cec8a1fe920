# Turns merge.lua into a C string so the binary carries its script.
file(READ ${IN} content)
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n\"" content "${content}")
file(WRITE ${OUT} "/* generated from publishers/merge.lua */\nconst char sp_merge_lua[] = \"${content}\";\n")
