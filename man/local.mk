dist_man_MANS += man/layerfs.1
