#!/bin/sh
tar cf "$1" --files-from /dev/null
