//! Data sets for the MEG experiments: the toy 2-D densities of Figure 2, and
//! (see the manifests in `data-manifests/`) the image and tabular data sets.

pub mod toy;
