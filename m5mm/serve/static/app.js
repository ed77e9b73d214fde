// The m5mm search page: text and/or image queries (fused or weighted, with a negative text), category
// filter and facets, result grid, "more like this".
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const form = $('search-form'), text = $('query-text'), fileInput = $('image-input');
  const drop = $('drop-zone'), preview = $('image-preview'), dropText = $('drop-text'), clear = $('image-clear');
  const useText = $('use-text'), useImage = $('use-image'), category = $('category'), kSelect = $('k');
  const statusBox = $('status'), results = $('results'), button = $('search-button');
  const negative = $('negative'), weighted = $('weighted'), mix = $('mix'), facetBar = $('facets');
  let image = null;
  let lastSearch = null;   // re-runs the last query with the current options (a facet click)
  let modalities = [];   // the model's modalities (from /health), in its order

  function setStatus(html, isError) {
    statusBox.className = 'status' + (isError ? ' error' : '');
    statusBox.innerHTML = html;
  }
  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
                                                       "'": '&#39;'}[c]));
  }
  function setImage(file) {
    image = file;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !file; clear.hidden = !file;
    if (file) { preview.src = URL.createObjectURL(file); dropText.textContent = file.name; }
    else { preview.removeAttribute('src'); dropText.textContent = 'Drop a product photo here, or click to choose one'; }
  }

  async function request(body, describe) {
    button.disabled = true;
    setStatus('Searching…');
    try {
      const init = body instanceof FormData ? {method: 'POST', body: body}
        : {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)};
      const response = await fetch('/search', init);
      const data = await response.json().catch(() => ({detail: response.statusText}));
      if (!response.ok) throw new Error(data.detail || response.statusText);
      render(data.results);
      renderFacets(data.facets || []);
      const where = category.value ? ` in <span class="pill">${escapeHtml(category.value)}</span>` : '';
      setStatus(`${data.results.length} results for ${describe}${where}`);
    } catch (error) {
      results.innerHTML = '';
      facetBar.innerHTML = '';
      setStatus(escapeHtml(error.message), true);
    } finally {
      button.disabled = false;
    }
  }

  function render(items) {
    results.innerHTML = '';
    if (!items.length) { results.innerHTML = '<div class="empty">No products found.</div>'; return; }
    for (const item of items) {
      const card = document.createElement('article');
      card.className = 'card result-card';
      card.dataset.id = item.id;
      card.tabIndex = 0;
      card.title = 'Find products like this one';
      const initial = escapeHtml((item.category || item.id || '?').charAt(0).toUpperCase());
      const thumb = item.thumbnail ? `<img src="${escapeHtml(item.thumbnail)}" alt="" loading="lazy">` : initial;
      const title = item.title ? `<div class="title">${escapeHtml(item.title)}</div>`
        : '<div class="title none">untitled product</div>';
      card.innerHTML = `<div class="thumb">${thumb}</div><div class="meta">${title}` +
        `<div class="pid">${escapeHtml(item.id)}</div>${modalityChips(item.modalities || [])}<div class="row">` +
        `<span class="category">${escapeHtml(item.category || 'uncategorised')}</span>` +
        `<span class="score">${item.score.toFixed(3)}</span></div></div>`;
      const similar = () => searchLike(item);
      card.addEventListener('click', similar);
      card.addEventListener('keydown', (e) => { if (e.key === 'Enter') similar(); });
      results.appendChild(card);
    }
  }

  // The categories of the top products with their counts; a click filters to one (again: all categories).
  function renderFacets(facets) {
    facetBar.innerHTML = '';
    for (const facet of facets) {
      const chip = document.createElement('button');
      chip.type = 'button';
      chip.className = 'facet' + (facet.category === category.value ? ' active' : '');
      chip.dataset.category = facet.category;
      chip.innerHTML = `${escapeHtml(facet.category)} <span class="count">${facet.count}</span>`;
      chip.addEventListener('click', () => {
        category.value = category.value === facet.category ? '' : facet.category;
        if (lastSearch) lastSearch();
      });
      facetBar.appendChild(chip);
    }
  }

  // One chip per modality of the model: solid when the product has it, faint and struck through when not.
  function modalityChips(has) {
    const names = modalities.length ? modalities : has;
    const chips = names.map((name) => {
      const present = has.includes(name);
      return `<span class="modality ${present ? 'has' : 'lacks'}" title="${present ? 'has' : 'no'} ` +
        `${escapeHtml(name)}">${escapeHtml(name)}</span>`;
    });
    const label = has.length ? `modalities: ${has.join(', ')}` : 'no modality recorded';
    return `<div class="modalities" aria-label="${escapeHtml(label)}">${chips.join('')}</div>`;
  }

  function options() {
    const out = {k: parseInt(kSelect.value, 10)};
    if (category.value) out.category = category.value;
    const not = negative.value.trim();
    if (not) out.negative = not;
    return out;
  }
  function notPart() {
    const not = negative.value.trim();
    return not ? ` but not <span class="pill">${escapeHtml(not)}</span>` : '';
  }

  function searchLike(item) {
    const label = item.title || item.id;
    lastSearch = () => request(Object.assign({id: item.id}, options()),
      `products like <span class="pill">${escapeHtml(label)}</span>${notPart()}`);
    lastSearch();
    window.scrollTo({top: 0, behavior: 'smooth'});
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    lastSearch = submitQuery;
    submitQuery();
  });

  function submitQuery() {
    const query = text.value.trim();
    const withText = useText.checked && query.length > 0;
    const withImage = useImage.checked && image !== null;
    if (!withText && !withImage) {
      setStatus(image || query ? 'Switch on the modality you want to search with.' :
        'Type a description or drop a photo to search.', true);
      return;
    }
    const parts = [];
    if (withText) parts.push(`<span class="pill">${escapeHtml(query)}</span>`);
    if (withImage) parts.push('<span class="pill">your photo</span>');
    const weigh = withText && withImage && weighted.checked;
    const describe = parts.join(weigh ? ` ${100 - mix.value}:${mix.value} ` : ' + ') + notPart();
    if (withImage) {
      const body = new FormData();
      body.append('image', image);
      if (withText) body.append('text', query);
      const opts = options();
      body.append('k', String(opts.k));
      if (opts.category) body.append('category', opts.category);
      if (opts.negative) body.append('negative', opts.negative);
      if (weigh) {
        body.append('text_weight', String((100 - mix.value) / 100));
        body.append('image_weight', String(mix.value / 100));
      }
      request(body, describe);
    } else {
      request(Object.assign({text: query}, options()), describe);
    }
  }
  weighted.addEventListener('change', () => { mix.hidden = !weighted.checked; });

  fileInput.addEventListener('change', () => setImage(fileInput.files[0] || null));
  clear.addEventListener('click', (e) => { e.preventDefault(); fileInput.value = ''; setImage(null); });
  ['dragenter', 'dragover'].forEach((name) => drop.addEventListener(name, (e) => {
    e.preventDefault(); drop.classList.add('over');
  }));
  ['dragleave', 'drop'].forEach((name) => drop.addEventListener(name, (e) => {
    e.preventDefault(); drop.classList.remove('over');
  }));
  drop.addEventListener('drop', (e) => {
    const file = e.dataTransfer.files[0];
    if (file) setImage(file);
  });

  fetch('/health').then((r) => r.json()).then((h) => {
    modalities = h.modalities.slice();
    $('stats').textContent = `${h.products} products · ${h.modalities.join(', ')} · ${h.feature} vectors (${h.dim}-d)`;
    useText.disabled = !h.modalities.includes('text');
    useImage.disabled = !h.modalities.includes('image');
  }).catch(() => {});
  fetch('/categories').then((r) => r.json()).then((data) => {
    for (const name of data.categories) {
      const option = document.createElement('option');
      option.value = name; option.textContent = name;
      category.appendChild(option);
    }
  }).catch(() => {});
})();
