# Turns the file INPUT into a C header OUTPUT that defines `static const unsigned char NAME[]`
# (NUL-terminated) and `static const size_t NAME_len` (without the NUL). Run with cmake -P.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" body "${body}")
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${name} by embed.cmake at build time: do not edit. */\n"
  "static const unsigned char ${NAME}[] = {\n${body}0x00};\n"
  "static const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
