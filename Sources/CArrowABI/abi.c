// Header-only module: the Arrow C Data Interface structs live in include/.
